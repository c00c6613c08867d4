// Package redistest gives tests a real Redis. Redis(t) hands every test of a
// process the same server, found in this order: EnvRedisURL; a container
// when a Docker engine answers (image from EnvRedisImage); redis-server from
// PATH on a free loopback port; else the test skips with a how-to, or fails
// when CI=true. EnvRedisMode forces one of the three. RedisWithFaults gives
// one test a server of its own whose Stop, Start, Pause and Unpause work.
// Tests share a server through distinct key prefixes (Prefix). MiniRedis is
// the in-process fake for tests that need no real server.
//
// A package that calls Redis needs
//
//	func TestMain(m *testing.M) { redistest.RunMain(m) }
//
// which removes the shared server when its tests end and fails the package
// on leaked goroutines.
//
// Containers: testcontainers-go with its reaper (Ryuk) turned off where its
// image is not on the engine (TESTCONTAINERS_RYUK_DISABLED is then set to
// true for the process). Every container is removed by t.Cleanup (dedicated
// ones) or by RunMain (the shared one); containers left by a process that
// died are removed by the next test process on the same host.
//
// The harness itself talks to the servers it runs (readiness, deleting a
// test's keys) through go-redis on one connection it dials per call (see
// call), so it leaves no goroutine behind in the packages whose TestMain
// checks for leaks. It is imported only from tests.
package redistest
