// Package store keeps berth's durable state: the snapshots of each work item,
// the jobs in flight, the submitted jobs' records and the instance ID, in a
// database of one of two kinds behind one Store. Every query is written once
// and runs on both; what differs (opening, placeholders, schema versions,
// transaction isolation) is a backend's.
//
// SQLite (the default): a database in the state directory, through the
// pure-Go modernc.org/sqlite driver. The database runs in WAL mode with a
// busy timeout, so several processes may share one state directory. Every
// write is one IMMEDIATE transaction, so the state is never half-written.
// With synchronous=NORMAL (the WAL default), a write that returned nil
// survives a crash of any berth process; an operating-system crash or power
// loss may lose the last few transactions (never corrupt the database),
// which costs at most a snapshot that reconcile adopts again from its
// image's labels. The schema is versioned with PRAGMA user_version.
//
// PostgreSQL (Open's WithURL("postgres://...")): a database that several
// hosts may share, through pgx. The schema is versioned in the table
// berth_schema and migrated under an advisory lock, so hosts starting at
// once migrate it once. Every write transaction is SERIALIZABLE and runs
// again when it loses a conflict, so it sees and writes the state as if it
// ran alone, as in SQLite.
//
// Both are migrated forward on Open; a database written by a newer berth is
// refused (ErrNewerSchema).
//
// The store holds facts, not policy: which snapshot to use, when to commit and
// what to evict are decided by package core.
package store
