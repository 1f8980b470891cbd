package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// instanceFile is the file in the state directory that holds the instance
// ID beside the database, so that the identity outlives a database that was
// lost or replaced: the snapshots made before are still berth's to collect.
const instanceFile = "instance-id"

// instanceID: the ID lives in instanceFile, mirrored in the database; the
// file wins when they differ (a database made anew after the old one was
// lost).
func (sqliteBackend) instanceID(ctx context.Context, s *Store) (string, error) {
	file := filepath.Join(s.dir, instanceFile)
	if id, ok := readInstanceFile(file); ok {
		if err := s.setInstanceID(ctx, id); err != nil {
			return "", err
		}
		return id, nil
	}
	id, err := s.dbInstanceID(ctx, "")
	if err != nil {
		return "", err
	}
	if err := writeInstanceFile(file, id); err != nil {
		return "", fmt.Errorf("store: write %s: %w", file, err)
	}
	if got, ok := readInstanceFile(file); ok && got != id {
		// Another process wrote it first, from another database.
		return got, s.setInstanceID(ctx, got)
	}
	return id, nil
}

// newInstanceID makes a new instance ID: 16 random hex digits.
func newInstanceID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// validInstanceID reports whether id looks like an ID this package made.
func validInstanceID(id string) bool {
	if len(id) < 8 || len(id) > 64 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

func readInstanceFile(path string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	id := strings.TrimSpace(string(b))
	return id, validInstanceID(id)
}

// writeInstanceFile writes id to path unless a valid ID is there already,
// atomically: a reader never sees a half-written file.
func writeInstanceFile(path, id string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), instanceFile+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(id + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if _, ok := readInstanceFile(path); ok {
		return nil
	}
	// A file that is there but not valid (cut short by a crash) is
	// replaced; a valid one is never overwritten (Link does not replace).
	os.Remove(path)
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// setInstanceID makes the database's copy of the ID id.
func (s *Store) setInstanceID(ctx context.Context, id string) error {
	var have string
	err := s.queryRow(ctx, nil, "SELECT value FROM meta WHERE key = 'instance_id'").Scan(&have)
	if err == nil && have == id {
		return nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: read instance ID: %w", err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		return s.exec(ctx, tx, "INSERT INTO meta (key, value) VALUES ('instance_id', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", id)
	})
	if err != nil {
		return fmt.Errorf("store: record instance ID: %w", err)
	}
	return nil
}

// dbInstanceID returns the ID the database holds, creating it if none:
// seed, or a new one when seed is "".
func (s *Store) dbInstanceID(ctx context.Context, seed string) (string, error) {
	var id string
	err := s.queryRow(ctx, nil, "SELECT value FROM meta WHERE key = 'instance_id'").Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: read instance ID: %w", err)
	}
	if seed == "" {
		if seed, err = newInstanceID(); err != nil {
			return "", err
		}
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.exec(ctx, tx, "INSERT INTO meta (key, value) VALUES ('instance_id', ?) ON CONFLICT (key) DO NOTHING", seed); err != nil {
			return err
		}
		return s.queryRow(ctx, tx, "SELECT value FROM meta WHERE key = 'instance_id'").Scan(&id)
	})
	if err != nil {
		return "", fmt.Errorf("store: create instance ID: %w", err)
	}
	return id, nil
}
