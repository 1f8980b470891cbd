package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ErrNewerSchema is returned by Open for a database written by a newer berth.
var ErrNewerSchema = errors.New("store: state database has a newer schema than this berth knows")

// Store is the state database. It is safe for concurrent use, also by
// several processes sharing the directory (or the PostgreSQL database).
type Store struct {
	db  *sql.DB
	b   backend
	dir string // the state directory

	mu      sync.Mutex
	stmts   map[string]*sql.Stmt // prepared once: parsing costs more than running
	wanted  map[string]bool      // met in a transaction, not cached yet
	rebound sync.Map             // query -> its backend's form
}

// backend is what differs between the databases a Store keeps its state in.
// Every query is written once, in the SQL both speak, with ? (or ?N)
// placeholders; a backend opens the database, rebinds the placeholders,
// migrates the schema and says which errors are worth a new try.
type backend interface {
	// String names the database in messages; it must never hold a
	// password.
	String() string
	// rebind returns query, written with ? and ?N placeholders, in the
	// backend's own form.
	rebind(query string) string
	// migrate brings the schema to the newest version this berth knows,
	// refusing (ErrNewerSchema) a newer one. Several processes may migrate
	// one database at once: one migrates, the others find it done.
	migrate(ctx context.Context, s *Store) error
	// txOptions are the options of every write transaction: each must see
	// and write the state as if it ran alone.
	txOptions() *sql.TxOptions
	// retry reports whether a transaction that failed with err lost a
	// conflict with another one and may be run again.
	retry(err error) bool
	// prepares reports whether the Store keeps its own prepared statements
	// (SQLite) or leaves them to the driver (pgx caches its own per
	// connection).
	prepares() bool
	// instanceID returns the ID of the state (see Store.InstanceID).
	instanceID(ctx context.Context, s *Store) (string, error)
	// lock takes the cluster-wide lock named by parts (see Store.Lock).
	lock(ctx context.Context, parts []string, try bool) (unlock func(), ok bool, err error)
	// close releases what the backend holds besides the database.
	close() error
}

// Option configures Open.
type Option func(*options)

type options struct {
	url string
}

// WithURL keeps the state in the database url names instead of the SQLite
// database of the state directory: "postgres://" or "postgresql://" URLs
// name a PostgreSQL database (in pgx's form: host, port, user, password,
// database and parameters such as sslmode or search_path). "" or "sqlite"
// is the default.
func WithURL(url string) Option { return func(o *options) { o.url = url } }

// IsPostgres reports whether url names a PostgreSQL database.
func IsPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// Open opens (creating if needed) the state of the state directory dir and
// migrates its schema: the SQLite database in dir, or the database
// WithURL names.
func Open(ctx context.Context, dir string, opts ...Option) (*Store, error) {
	if dir == "" {
		return nil, errors.New("store: state directory is required")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var (
		db  *sql.DB
		b   backend
		err error
	)
	switch {
	case o.url == "" || o.url == "sqlite":
		db, b, err = openSQLite(dir)
	case IsPostgres(o.url):
		db, b, err = openPostgres(o.url, dir)
	default:
		// The URL may hold a password: name its scheme only.
		scheme, _, _ := strings.Cut(o.url, ":")
		return nil, fmt.Errorf("store: unknown kind of store %q: want postgres://... or sqlite", scheme)
	}
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, b: b, dir: dir, stmts: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
	if err := b.migrate(ctx, s); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// InstanceID returns the ID of the state, creating it the first time.
// Every process sharing the state directory gets the same ID.
//
// The ID belongs to the state directory: it lives in a file beside the
// database (instanceFile), mirrored in the database, and the file wins when
// they differ (a database made anew after the old one was lost), so the
// snapshots made before are still berth's to collect. In PostgreSQL it
// also names the host's own schema (see postgresBackend): hosts sharing the
// database each have theirs.
func (s *Store) InstanceID(ctx context.Context) (string, error) { return s.b.instanceID(ctx, s) }

// Close closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = map[string]*sql.Stmt{}
	s.mu.Unlock()
	return errors.Join(s.db.Close(), s.b.close())
}

// Shared reports whether hosts other than this state directory's may share
// the state (PostgreSQL): then work items are locked across hosts (Lock).
func (s *Store) Shared() bool {
	_, ok := s.b.(*postgresBackend)
	return ok
}

// Lock takes the lock named by parts across every host sharing the state,
// waiting as long as ctx allows, and holds it until unlock is called (or
// the process dies). On a state no other host shares (SQLite, whose
// processes share a state directory and lock its files) it returns at once:
// there is no other host to keep out.
func (s *Store) Lock(ctx context.Context, parts ...string) (unlock func(), err error) {
	unlock, _, err = s.b.lock(ctx, parts, false)
	return unlock, err
}

// TryLock takes the lock named by parts like Lock if no other holds it, and
// reports ok false at once if one does.
func (s *Store) TryLock(ctx context.Context, parts ...string) (unlock func(), ok bool, err error) {
	return s.b.lock(ctx, parts, true)
}

// stmt returns query prepared, to run in tx when it is not nil.
//
// The cache's lock is never held while waiting for the database, and a
// transaction never waits for a second pooled connection: it holds the
// write lock, and the connections it would wait for may be waiting for that
// lock (until busy_timeout fails them with SQLITE_BUSY). So a statement
// missing from the cache is prepared outside the lock, and in a
// transaction on the transaction's own connection (closed with it); the
// transaction leaves it to be cached once it is over (see tx).
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	st := s.stmts[query]
	if st == nil && tx != nil {
		s.wanted[query] = true
	}
	s.mu.Unlock()
	switch {
	case st != nil && tx != nil:
		return tx.StmtContext(ctx, st), nil
	case st != nil:
		return st, nil
	case tx != nil:
		return tx.PrepareContext(ctx, query)
	}
	return s.cache(ctx, query)
}

// cache prepares query on the database and caches it, unless another
// caller did meanwhile.
func (s *Store) cache(ctx context.Context, query string) (*sql.Stmt, error) {
	p, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.stmts[query]; st != nil {
		p.Close()
		return st, nil
	}
	s.stmts[query] = p
	delete(s.wanted, query)
	return p, nil
}

// cacheWanted caches the statements transactions prepared for themselves.
// Errors are left to the next use of the statement.
func (s *Store) cacheWanted(ctx context.Context) {
	s.mu.Lock()
	queries := make([]string, 0, len(s.wanted))
	for q := range s.wanted {
		queries = append(queries, q)
	}
	s.mu.Unlock()
	for _, q := range queries {
		if _, err := s.cache(ctx, q); err != nil {
			s.mu.Lock()
			delete(s.wanted, q)
			s.mu.Unlock()
		}
	}
}

// sql returns query in the backend's form.
func (s *Store) sql(query string) string {
	if q, ok := s.rebound.Load(query); ok {
		return q.(string)
	}
	q := s.b.rebind(query)
	s.rebound.Store(query, q)
	return q
}

// conn is what runs a statement: the database, or a transaction.
type conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// on returns tx, or the database when tx is nil.
func (s *Store) on(tx *sql.Tx) conn {
	if tx != nil {
		return tx
	}
	return s.db
}

// exec runs a write statement, in tx when it is not nil.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	query = s.sql(query)
	if !s.b.prepares() {
		_, err := s.on(tx).ExecContext(ctx, query, args...)
		return err
	}
	st, err := s.stmt(ctx, tx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

// queryRow runs a query of one row, in tx when it is not nil.
func (s *Store) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	query = s.sql(query)
	if !s.b.prepares() {
		return s.on(tx).QueryRowContext(ctx, query, args...)
	}
	st, err := s.stmt(ctx, tx, query)
	if err != nil {
		// Let Scan report it: run the query unprepared.
		return s.on(tx).QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// query runs a query of many rows, in tx when it is not nil.
func (s *Store) query(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	query = s.sql(query)
	if !s.b.prepares() {
		return s.on(tx).QueryContext(ctx, query, args...)
	}
	st, err := s.stmt(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// maxTries bounds the runs of a transaction that keeps losing conflicts.
const maxTries = 20

// tx runs fn in one transaction that sees and writes the state as if it ran
// alone (SQLite: IMMEDIATE; PostgreSQL: SERIALIZABLE), committing if it
// returns nil. A transaction that lost a conflict with another is run again,
// so fn must set everything it reports from scratch on every run.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	for try := 1; ; try++ {
		err := s.tx1(ctx, fn)
		if err == nil || try == maxTries || !s.b.retry(err) || ctx.Err() != nil {
			return err
		}
		// Back off a little, more each time, so the winner gets through.
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(try) * time.Millisecond):
		}
	}
}

func (s *Store) tx1(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, s.b.txOptions())
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		s.cacheWanted(ctx)
		return err
	}
	err = tx.Commit()
	s.cacheWanted(ctx)
	return err
}
