package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/jackc/pgx/v5"
)

func cleanupMain(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("clusterbench cleanup", flag.ContinueOnError)
	store := fs.String("store", "", "the cluster's PostgreSQL URL, whose search_path names the cluster's schema; required")
	registry := fs.String("registry", "", "the registry repository whose manifests to delete")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *store == "" && *registry == "" {
		return errors.New("-store or -registry is required")
	}
	ctx := context.Background()
	var errs []error
	if *registry != "" {
		n, err := cleanRegistry(ctx, *registry)
		errs = append(errs, err)
		fmt.Fprintf(w, "cleanup: %d manifests deleted from %s (its blobs stay until the registry's offline garbage-collect)\n", n, *registry)
	}
	if *store != "" {
		dropped, err := dropSchemas(ctx, *store)
		errs = append(errs, err)
		fmt.Fprintf(w, "cleanup: %d schemas dropped (%s)\n", len(dropped), strings.Join(dropped, " "))
	}
	return errors.Join(errs...)
}

// cleanRegistry deletes every manifest tagged in repo, by digest, a few at
// a time (Distribution's deletion reads every tag of the repository).
func cleanRegistry(ctx context.Context, repo string) (int, error) {
	present, err := registryManifests(ctx, repo)
	if err != nil {
		return 0, err
	}
	r, err := repository(repo)
	if err != nil {
		return 0, err
	}
	digests := make(chan string)
	var (
		wg      sync.WaitGroup
		deleted atomic.Int64
		mu      sync.Mutex
		errs    []error
	)
	for range 8 {
		wg.Go(func() {
			for d := range digests {
				err := remote.Delete(r.Digest(d), remote.WithContext(ctx))
				if err != nil && !notFound(err) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("delete %s@%s: %w", repo, d, err))
					mu.Unlock()
					continue
				}
				deleted.Add(1)
			}
		})
	}
	for d := range present {
		digests <- d
	}
	close(digests)
	wg.Wait()
	return int(deleted.Load()), errors.Join(errs...)
}

// dropSchemas drops the cluster's schema (the first of the URL's
// search_path) and its hosts' (<cluster>_<instance ID>). It refuses a URL
// without a search_path, and public.
func dropSchemas(ctx context.Context, url string) ([]string, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store URL: %w", err)
	}
	cluster, _, _ := strings.Cut(cfg.RuntimeParams["search_path"], ",")
	cluster = strings.Trim(strings.TrimSpace(cluster), `"`)
	if cluster == "" || cluster == "public" || strings.HasPrefix(cluster, "pg_") {
		return nil, fmt.Errorf("the store URL's search_path names no schema of its own (%q): not dropping anything", cluster)
	}
	db, err := openDB(url)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT nspname FROM pg_namespace WHERE nspname = $1
		OR (starts_with(nspname, $1 || '_') AND substr(nspname, length($1) + 2) ~ '^[0-9a-f]{8,64}$')`, cluster)
	if err != nil {
		return nil, err
	}
	var schemas []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, err
		}
		schemas = append(schemas, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Sort(schemas)
	var dropped []string
	for _, s := range schemas {
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+pgx.Identifier{s}.Sanitize()+" CASCADE"); err != nil {
			return dropped, fmt.Errorf("drop schema %s: %w", s, err)
		}
		dropped = append(dropped, s)
	}
	return dropped, nil
}
