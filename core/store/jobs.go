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
}

// AddJob records a job in flight.
func (s *Store) AddJob(ctx context.Context, j Job) error {
	err := s.exec(ctx, nil, `INSERT INTO jobs (id, runtime, project, work_item, container_id, pid, pid_start, started)
		VALUES (?,?,?,?,?,?,?,?)`, j.ID, j.Runtime, j.Project, j.WorkItem, j.ContainerID, j.PID, int64(j.PIDStart), j.Started.UnixNano())
	if err != nil {
		return fmt.Errorf("store: add job: %w", err)
	}
	return nil
}

// SetJobContainer records the container of job id.
func (s *Store) SetJobContainer(ctx context.Context, id, containerID string) error {
	if err := s.exec(ctx, nil, "UPDATE jobs SET container_id = ? WHERE id = ?", containerID, id); err != nil {
		return fmt.Errorf("store: set job container: %w", err)
	}
	return nil
}

// Jobs returns the jobs in flight.
func (s *Store) Jobs(ctx context.Context) ([]Job, error) {
	rows, err := s.query(ctx, "SELECT id, runtime, project, work_item, container_id, pid, pid_start, started FROM jobs ORDER BY started, id")
	if err != nil {
		return nil, fmt.Errorf("store: jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		var j Job
		var start, started int64
		if err := rows.Scan(&j.ID, &j.Runtime, &j.Project, &j.WorkItem, &j.ContainerID, &j.PID, &start, &started); err != nil {
			return nil, fmt.Errorf("store: jobs: %w", err)
		}
		j.PIDStart, j.Started = uint64(start), time.Unix(0, started)
		out = append(out, j)
	}
	return out, rows.Err()
}

// DeleteJob forgets job id.
func (s *Store) DeleteJob(ctx context.Context, id string) error {
	if err := s.exec(ctx, nil, "DELETE FROM jobs WHERE id = ?", id); err != nil {
		return fmt.Errorf("store: delete job: %w", err)
	}
	return nil
}

// FinishJob forgets job id and, in the same transaction, stores snap (when
// non-nil) or moves the last-used time of touch's snapshot to at (when
// touch is non-nil).
func (s *Store) FinishJob(ctx context.Context, id string, snap *Snapshot, touch *Key, at time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.exec(ctx, tx, "DELETE FROM jobs WHERE id = ?", id); err != nil {
			return err
		}
		if snap != nil {
			if err := s.put(ctx, tx, *snap); err != nil {
				return err
			}
		}
		if touch != nil {
			return s.exec(ctx, tx, "UPDATE snapshots SET last_used = max(last_used, ?) WHERE "+keyIs,
				at.UnixNano(), touch.Runtime, touch.Project, touch.WorkItem)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: finish job: %w", err)
	}
	return nil
}
