package metrics

// Label values this package owns: the reasons and operations the transport,
// the broker and the app count under. They live here because metrics is the
// one package all of those import; New starts each of them at 0.

// Reasons of arqonbus_messages_dropped_total{reason}, besides the
// "telemetry_<code>" reasons of DropTelemetry.
const (
	DropSlowConsumer = "slow_consumer" // the send queue overflowed; the client was closed with 4008
	DropRateLimited  = "rate_limited"  // over the rate limit (replied to, or closed with 4029)
	DropTooBig       = "too_big"       // a frame over the size limit; closed with 1009
	DropInvalidUTF8  = "invalid_utf8"  // a text frame that is not UTF-8; closed with 1007
	DropControlFlood = "control_flood" // a ping, or a pong nobody asked for, over the rate limit (unanswered, or closed with 4029)
	// DropTenantRateLimited: over the tenant's shared rate limit (replied to, or closed with 4029)
	DropTenantRateLimited = "tenant_rate_limited"
)

// DropReasons lists the drop reasons New starts at 0.
var DropReasons = []string{DropSlowConsumer, DropRateLimited, DropTooBig, DropInvalidUTF8, DropControlFlood, DropTenantRateLimited}

// DropTelemetry is the drop reason of a telemetry frame that was not
// delivered because publishing it failed with the wire error code.
func DropTelemetry(code string) string { return "telemetry_" + code }

// Reasons of arqonbus_connections_rejected_total{reason}.
const (
	RejectHandshake    = "handshake"     // a malformed upgrade request
	RejectNotWebSocket = "not_websocket" // a plain HTTP request on the WebSocket path
	RejectDraining     = "draining"      // the node is shutting down
	RejectOrigin       = "origin"        // a browser origin not allowed
	RejectCapacity     = "capacity"      // ARQONBUS_MAX_CONNECTIONS reached
	RejectAuth         = "auth"          // the token was missing or refused
	RejectTenantCap    = "tenant_cap"    // ARQONBUS_MAX_CONNECTIONS_PER_TENANT reached
	RejectSubjectCap   = "subject_cap"   // ARQONBUS_MAX_CONNECTIONS_PER_SUBJECT reached
	RejectAddressCap   = "address_cap"   // ARQONBUS_MAX_CONNECTIONS_PER_ADDRESS reached
)

// RejectReasons lists the handshake refusal reasons New starts at 0.
var RejectReasons = []string{RejectHandshake, RejectNotWebSocket, RejectDraining, RejectOrigin, RejectCapacity, RejectAuth,
	RejectTenantCap, RejectSubjectCap, RejectAddressCap}

// Reasons of arqonbus_history_evicted_total{reason}: why the memory store
// let a message go before its key's ring was full.
const (
	EvictTenantShare = "tenant_share" // its tenant passed ARQONBUS_HISTORY_TENANT_MAX_BYTES
	EvictNodeBudget  = "node_budget"  // the node passed ARQONBUS_HISTORY_MAX_BYTES
	EvictIdle        = "idle"         // its (tenant, room, channel) had no message for ARQONBUS_HISTORY_TTL
)

// HistoryEvictReasons lists the eviction reasons New starts at 0.
var HistoryEvictReasons = []string{EvictTenantShare, EvictNodeBudget, EvictIdle}

// Operations of arqonbus_failures_total{op}.
const (
	FailSocketWrite     = "socket_write"     // a write to a client socket failed
	FailHandlePanic     = "handle_panic"     // a frame handler panicked and was recovered
	FailServe           = "serve"            // a listener stopped serving
	FailBrokerPublish   = "broker_publish"   // a message did not reach the other nodes
	FailBrokerDecode    = "broker_decode"    // a message from another node could not be read
	FailBrokerHeartbeat = "broker_heartbeat" // this node's presence could not be renewed
	FailBrokerPresence  = "broker_presence"  // a presence update or renewal was lost
)

// FailureOps lists the failure operations New starts at 0.
var FailureOps = []string{
	FailSocketWrite, FailHandlePanic, FailServe,
	FailBrokerPublish, FailBrokerDecode, FailBrokerHeartbeat, FailBrokerPresence,
}

// KVOp is the op label of arqonbus_kv_operations_total.
type KVOp string

// Operations of the key-value store (op.store.*).
const (
	KVSet    KVOp = "set"
	KVGet    KVOp = "get"
	KVDelete KVOp = "delete"
	KVList   KVOp = "list"
)

// KVResult is the result label of arqonbus_kv_operations_total.
type KVResult string

// Results of a key-value operation that reached the store.
const (
	KVOK          KVResult = "ok"          // done (get: found; delete: deleted)
	KVMiss        KVResult = "miss"        // get or delete of a key that is not there
	KVLimit       KVResult = "limit"       // refused: key or value limit
	KVUnavailable KVResult = "unavailable" // the backend did not answer
	KVError       KVResult = "error"       // any other failure (logged)
)

// KVOps and KVResults list the values New starts at 0 (every pair).
var (
	KVOps     = []KVOp{KVSet, KVGet, KVDelete, KVList}
	KVResults = []KVResult{KVOK, KVMiss, KVLimit, KVUnavailable, KVError}
)

// CronResult is the result label of arqonbus_cron_firings_total.
type CronResult string

// Cron firing results.
const (
	CronOK      CronResult = "ok"      // published
	CronRefused CronResult = "refused" // strict storage refused it (logged)
	CronError   CronResult = "error"   // any other failure (logged)
)

// CronReason is the reason label of arqonbus_cron_cancellations_total.
type CronReason string

// Why a cron job ended.
const (
	CronOwnerCancel CronReason = "owner_cancel"
	CronAdminCancel CronReason = "admin_cancel"
	CronDisconnect  CronReason = "disconnect"
	CronShutdown    CronReason = "shutdown"
	CronCompleted   CronReason = "completed"
)

// CronResults and CronReasons list the values New starts at 0.
var (
	CronResults = []CronResult{CronOK, CronRefused, CronError}
	CronReasons = []CronReason{CronOwnerCancel, CronAdminCancel, CronDisconnect, CronShutdown, CronCompleted}
)

// TaskStatus is the status label of arqonbus_tasks_completed_total.
type TaskStatus string

// How a worker finished a task.
const (
	TaskDone   TaskStatus = "done"   // the worker answered success
	TaskFailed TaskStatus = "failed" // the worker answered error
)

// TaskOp is the op label of arqonbus_task_queue_failures_total: the queue
// call that failed.
type TaskOp string

// Work-queue backend calls.
const (
	TaskOpSubmit   TaskOp = "submit"
	TaskOpClaim    TaskOp = "claim"
	TaskOpComplete TaskOp = "complete"
	TaskOpRelease  TaskOp = "release"
	TaskOpGet      TaskOp = "get"
	TaskOpDead     TaskOp = "dead_letter"
)

// TaskStatuses and TaskOps list the values New starts at 0.
var (
	TaskStatuses = []TaskStatus{TaskDone, TaskFailed}
	TaskOps      = []TaskOp{TaskOpSubmit, TaskOpClaim, TaskOpComplete, TaskOpRelease, TaskOpGet, TaskOpDead}
)

// ReceivedInvalid is the type label of a received frame that did not
// decode.
const ReceivedInvalid = "invalid"

// Labels are the label values whose owners metrics may not import: the
// caller that wires the node passes them to NewWithLabels, which starts
// every one at 0, so a fresh node shows a 0 for each series its alerts read
// instead of "no data".
type Labels struct {
	// ErrorCodes are the wire error codes: errors_total{code}, the
	// statuses of commands_total besides Success, and the telemetry drop
	// reasons.
	ErrorCodes []string
	// MessageTypes are the envelope types a decoded frame can have
	// (messages_received_total{type}; ReceivedInvalid is added).
	MessageTypes []string
	// Commands are the command labels (commands_total{command}): every
	// command of the table and the names unknown commands are counted under.
	Commands []string
	// Success is the status of a command that succeeded.
	Success string
	// AuthReasons are the labels a refused token is counted under
	// (auth_failures_total{reason}): auth.Labels, which tell a forger
	// nothing about which check failed before the signature.
	AuthReasons []string
}

// start creates every known series of the labelled counters at 0.
func (m *Metrics) start(l Labels) {
	for _, r := range DropReasons {
		m.MessagesDropped.WithLabelValues(r)
	}
	for _, r := range RejectReasons {
		m.ConnectionsRejected.WithLabelValues(r)
	}
	for _, op := range FailureOps {
		m.Failures.WithLabelValues(op)
	}
	m.MessagesReceived.WithLabelValues(ReceivedInvalid)
	for _, op := range KVOps {
		for _, r := range KVResults {
			m.KVOperations.WithLabelValues(string(op), string(r))
		}
	}
	for _, r := range CronResults {
		m.CronFirings.WithLabelValues(string(r))
	}
	for _, r := range HistoryEvictReasons {
		m.HistoryEvicted.WithLabelValues(r)
	}
	for _, r := range CronReasons {
		m.CronCancellations.WithLabelValues(string(r))
	}
	for _, s := range TaskStatuses {
		m.TasksCompleted.WithLabelValues(string(s))
	}
	for _, op := range TaskOps {
		m.TaskQueueFailures.WithLabelValues(string(op))
	}
	for _, t := range l.MessageTypes {
		m.MessagesReceived.WithLabelValues(t)
	}
	for _, code := range l.ErrorCodes {
		m.Errors.WithLabelValues(code)
		m.MessagesDropped.WithLabelValues(DropTelemetry(code))
	}
	for _, r := range l.AuthReasons {
		m.AuthFailures.WithLabelValues(r)
	}
	for _, c := range l.Commands {
		if l.Success != "" {
			m.Commands.WithLabelValues(c, l.Success)
		}
		for _, code := range l.ErrorCodes {
			m.Commands.WithLabelValues(c, code)
		}
	}
}
