package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ErrNoRecord: no job record has that ID.
var ErrNoRecord = errors.New("store: no such job record")

// Record is a submitted job's record. The core owns what Data and Resume
// hold (JSON); the store indexes the rest.
type Record struct {
	ID             string
	IdempotencyKey string // "" for none
	State          string
	Project        string
	WorkItem       string
	Created        time.Time
	Ended          time.Time // zero while the job is live
	Data           []byte    // the record
	Resume         []byte    // what taking the job over needs, while it is live
}

const recordCols = "id, idempotency_key, state, project, work_item, created, ended, record, resume"

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func scanRecord(sc interface{ Scan(...any) error }) (Record, error) {
	var r Record
	var key sql.NullString
	var created, ended int64
	err := sc.Scan(&r.ID, &key, &r.State, &r.Project, &r.WorkItem, &created, &ended, &r.Data, &r.Resume)
	r.IdempotencyKey, r.Created, r.Ended = key.String, time.Unix(0, created), fromUnixNano(ended)
	return r, err
}

// AddRecord stores a new record. When its idempotency key is taken it
// stores nothing and returns the record that holds the key, with dup true.
func (s *Store) AddRecord(ctx context.Context, r Record) (got Record, dup bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		dup = false
		if r.IdempotencyKey != "" {
			got, err = scanRecord(s.queryRow(ctx, tx, "SELECT "+recordCols+" FROM job_records WHERE idempotency_key = ?", r.IdempotencyKey))
			if err == nil {
				dup = true
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		got = r
		return s.exec(ctx, tx, "INSERT INTO job_records ("+recordCols+") VALUES (?,?,?,?,?,?,?,?,?)",
			r.ID, nullString(r.IdempotencyKey), r.State, r.Project, r.WorkItem, r.Created.UnixNano(), unixNano(r.Ended), r.Data, r.Resume)
	})
	if err != nil {
		return Record{}, false, fmt.Errorf("store: add job record: %w", err)
	}
	return got, dup, nil
}

// UpdateRecord rewrites the state, end, data and resume of record r.ID.
func (s *Store) UpdateRecord(ctx context.Context, r Record) error {
	err := s.exec(ctx, nil, "UPDATE job_records SET state = ?, ended = ?, record = ?, resume = ? WHERE id = ?",
		r.State, unixNano(r.Ended), r.Data, r.Resume, r.ID)
	if err != nil {
		return fmt.Errorf("store: update job record: %w", err)
	}
	return nil
}

// GetRecord returns record id, or ErrNoRecord.
func (s *Store) GetRecord(ctx context.Context, id string) (Record, error) {
	r, err := scanRecord(s.queryRow(ctx, nil, "SELECT "+recordCols+" FROM job_records WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNoRecord
	}
	if err != nil {
		return r, fmt.Errorf("store: job record: %w", err)
	}
	return r, nil
}

// RecordFilter selects records; zero fields match all.
type RecordFilter struct {
	States   []string
	Project  string
	WorkItem string
	Limit    int // newest first; 0: all
}

// Records returns the records f selects, newest first.
func (s *Store) Records(ctx context.Context, f RecordFilter) ([]Record, error) {
	var where []string
	var args []any
	if len(f.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(",?", len(f.States)-1)+")")
		for _, st := range f.States {
			args = append(args, st)
		}
	}
	if f.Project != "" {
		where, args = append(where, "project = ?"), append(args, f.Project)
	}
	if f.WorkItem != "" {
		where, args = append(where, "work_item = ?"), append(args, f.WorkItem)
	}
	q := "SELECT " + recordCols + " FROM job_records"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created DESC, id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	// Not prepared: each filter and limit is a query of its own.
	rows, err := s.db.QueryContext(ctx, s.b.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("store: job records: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("store: job records: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// PruneRecords deletes the ended records beyond the keep most recently
// ended ones and returns their IDs.
func (s *Store) PruneRecords(ctx context.Context, keep int) ([]string, error) {
	var ids []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		ids = nil
		rows, err := s.query(ctx, tx, "SELECT id FROM job_records WHERE ended > 0 ORDER BY ended DESC, id DESC LIMIT ? OFFSET ?", int64(math.MaxInt64), keep)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.exec(ctx, tx, "DELETE FROM job_records WHERE id = ?", id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: prune job records: %w", err)
	}
	return ids, nil
}
