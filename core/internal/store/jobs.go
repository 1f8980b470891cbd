package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Job is a job in flight: a row exists from before its container is created
// until after the container is removed.
type Job struct {
	ID          string
	Runtime     string
	Project     string
	WorkItem    string
	ContainerID string // "" until the container exists
	PID         int    // the owner process
	PIDStart    uint64 // its start time, in clock ticks after boot (/proc/PID/stat)
	Started     time.Time
	// OwnerLock: the owner holds a lock on the job's own file for as long
	// as it lives (rows of older berths have none: PID and start time
	// judge those).
	OwnerLock bool
	// Deadline is when the job's timeout ends (zero: no timeout).
	Deadline time.Time
	// Ended: the job's end is recorded; only its container's removal is
	// left.
	Ended bool
	// Durable: a submitted job, which a restarted owner takes over (see
	// the job's Record).
	Durable bool
}

const jobCols = "id, runtime, project, work_item, container_id, pid, pid_start, started, owner_lock, deadline, ended, durable"

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// AddJob records a job in flight.
func (s *Store) AddJob(ctx context.Context, j Job) error {
	err := s.exec(ctx, nil, `INSERT INTO jobs (`+jobCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
		j.ID, j.Runtime, j.Project, j.WorkItem, j.ContainerID, j.PID, int64(j.PIDStart), j.Started.UnixNano(),
		j.OwnerLock, unixNano(j.Deadline), j.Ended, j.Durable)
	if err != nil {
		return fmt.Errorf("store: add job: %w", err)
	}
	return nil
}

// SetJobContainer records the container of job id and the deadline of its
// run (zero: none).
func (s *Store) SetJobContainer(ctx context.Context, id, containerID string, deadline time.Time) error {
	if err := s.exec(ctx, nil, "UPDATE jobs SET container_id = ?, deadline = ? WHERE id = ?", containerID, unixNano(deadline), id); err != nil {
		return fmt.Errorf("store: set job container: %w", err)
	}
	return nil
}

func scanJob(sc interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var start, started, deadline int64
	err := sc.Scan(&j.ID, &j.Runtime, &j.Project, &j.WorkItem, &j.ContainerID, &j.PID, &start, &started,
		&j.OwnerLock, &deadline, &j.Ended, &j.Durable)
	j.PIDStart, j.Started, j.Deadline = uint64(start), time.Unix(0, started), fromUnixNano(deadline)
	return j, err
}

// Jobs returns the jobs in flight.
func (s *Store) Jobs(ctx context.Context) ([]Job, error) {
	rows, err := s.query(ctx, nil, "SELECT "+jobCols+" FROM jobs ORDER BY started, id")
	if err != nil {
		return nil, fmt.Errorf("store: jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("store: jobs: %w", err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// SetJobOwner records that the process pid (started at start) owns job id
// now: a restarted owner took it over.
func (s *Store) SetJobOwner(ctx context.Context, id string, pid int, start uint64) error {
	if err := s.exec(ctx, nil, "UPDATE jobs SET pid = ?, pid_start = ? WHERE id = ?", pid, int64(start), id); err != nil {
		return fmt.Errorf("store: set job owner: %w", err)
	}
	return nil
}

// DeleteJob forgets job id.
func (s *Store) DeleteJob(ctx context.Context, id string) error {
	if err := s.exec(ctx, nil, "DELETE FROM jobs WHERE id = ?", id); err != nil {
		return fmt.Errorf("store: delete job: %w", err)
	}
	return nil
}

// EndJob records that job id has ended: its row stays, for the sweep, until
// its container is removed.
func (s *Store) EndJob(ctx context.Context, id string) error {
	if err := s.exec(ctx, nil, "UPDATE jobs SET ended = TRUE WHERE id = ?", id); err != nil {
		return fmt.Errorf("store: end job: %w", err)
	}
	return nil
}

// JobEnd is what FinishJob records at the end of a job.
type JobEnd struct {
	// ID is the job's.
	ID string
	// ContainerRemoved: the job's container is gone, and so goes its row.
	// Otherwise the row stays, marked ended, for the sweep to remove the
	// container.
	ContainerRemoved bool
	// Commit, when non-nil, is the snapshot the job committed, stored in
	// place of the key's previous one.
	Commit *Snapshot
	// Used, unless zero, is the snapshot the job ran from: its last-used
	// time moves to At.
	Used Key
	At   time.Time
}

// FinishJob records the end of a job and, in the same transaction, the
// snapshot it committed or used.
func (s *Store) FinishJob(ctx context.Context, end JobEnd) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		q := "UPDATE jobs SET ended = TRUE WHERE id = ?"
		if end.ContainerRemoved {
			q = "DELETE FROM jobs WHERE id = ?"
		}
		if err := s.exec(ctx, tx, q, end.ID); err != nil {
			return err
		}
		if end.Commit != nil {
			if err := s.put(ctx, tx, *end.Commit); err != nil {
				return err
			}
		}
		if end.Used != (Key{}) {
			return s.exec(ctx, tx, `UPDATE snapshots SET last_used = ?1
				WHERE last_used < ?1 AND runtime = ?2 AND project = ?3 AND work_item = ?4`,
				end.At.UnixNano(), end.Used.Runtime, end.Used.Project, end.Used.WorkItem)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: finish job: %w", err)
	}
	return nil
}
