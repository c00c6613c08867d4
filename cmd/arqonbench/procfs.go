package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// procCPU is the user plus system CPU time pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'. utime and stime are fields 14 and 15, i.e. the 12th and
	// 13th after the name.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// procRSS is pid's resident set size in KiB (VmRSS of /proc/PID/status).
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// coreTimes is one CPU's line of /proc/stat: jiffies of every state.
type coreTimes struct {
	name                 string
	total, idle, softirq uint64 // softirq includes hardirq
}

// readCores reads the per-CPU lines of /proc/stat (nil when unreadable).
func readCores() []coreTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	var cores []coreTimes
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		c := coreTimes{name: f[0]}
		for i, v := range f[1:] {
			n, _ := strconv.ParseUint(v, 10, 64)
			c.total += n
			switch i {
			case 3, 4: // idle, iowait
				c.idle += n
			case 5, 6: // irq, softirq
				c.softirq += n
			}
		}
		cores = append(cores, c)
	}
	return cores
}

// cpuSample is a point in time for CPU shares over a window.
type cpuSample struct {
	wall   time.Time
	self   time.Duration
	server time.Duration
	ok     bool // server CPU was readable
	cores  []coreTimes
}

func sampleCPU(pid int) cpuSample {
	s := cpuSample{wall: time.Now(), self: selfCPU(), cores: readCores()}
	if pid > 0 {
		if d, err := procCPU(pid); err == nil {
			s.server, s.ok = d, true
		}
	}
	return s
}

// cpuShares returns the tool's and the server's CPU use between a and b in
// percent of one core (server < 0 when unknown).
func cpuShares(a, b cpuSample) (tool, server float64) {
	wall := b.wall.Sub(a.wall).Seconds()
	if wall <= 0 {
		return 0, -1
	}
	tool = round1(100 * (b.self - a.self).Seconds() / wall)
	server = -1
	if a.ok && b.ok {
		server = round1(100 * (b.server - a.server).Seconds() / wall)
	}
	return tool, server
}

// coreShares is how busy each CPU of the machine was between a and b, and
// the part of that spent handling interrupts, in percent.
func coreShares(a, b cpuSample) (busy, irq map[string]float64) {
	if len(a.cores) != len(b.cores) || len(a.cores) == 0 {
		return nil, nil
	}
	busy, irq = map[string]float64{}, map[string]float64{}
	for i, x := range a.cores {
		y := b.cores[i]
		total := float64(y.total - x.total)
		if total <= 0 || x.name != y.name {
			continue
		}
		busy[x.name] = round1(100 * (1 - float64(y.idle-x.idle)/total))
		irq[x.name] = round1(100 * float64(y.softirq-x.softirq) / total)
	}
	return busy, irq
}
