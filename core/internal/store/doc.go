// Package store keeps berth's durable state: the snapshots of each work item,
// the jobs in flight and the instance ID, in a SQLite database (through the
// pure-Go modernc.org/sqlite driver) inside a state directory.
//
// The database runs in WAL mode with a busy timeout, so several processes may
// share one state directory. Every write is one IMMEDIATE transaction, so
// the state is never half-written. With synchronous=NORMAL (the WAL
// default), a write that returned nil survives a crash of any berth
// process; an operating-system crash or power loss may lose the last few
// transactions (never corrupt the database), which costs at most a
// snapshot that reconcile adopts again from its image's labels. The schema
// is versioned with PRAGMA user_version and migrated forward on Open; a
// database written by a newer berth is refused.
//
// The store holds facts, not policy: which snapshot to use, when to commit and
// what to evict are decided by package core.
package store
