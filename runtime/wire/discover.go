package wire

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/runtime"
)

// binaryPrefix starts the file name of every driver binary.
const binaryPrefix = "berth-driver-"

// SearchPath returns the directories of $PATH a driver may come from: its
// absolute entries, in order. An empty or relative entry ("", ".", "bin")
// names a place relative to the current directory, and a driver is never
// taken from there: that is Go's rule for exec.LookPath (which reports such
// a hit as exec.ErrDot), kept here whatever GODEBUG says.
func SearchPath() []string {
	var dirs []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if filepath.IsAbs(dir) {
			dirs = append(dirs, dir)
		}
	}
	return dirs
}

// Discover returns the paths of the driver binaries (executable files named
// berth-driver-<name>) in pluginDir, then in the directories of SearchPath.
// A name found twice is listed once, at its first place: the one Open would
// run. An empty pluginDir is skipped; a missing one is not an error.
func Discover(pluginDir string) ([]string, error) {
	dirs := SearchPath()
	if pluginDir != "" {
		dirs = append([]string{pluginDir}, dirs...)
	}
	seen := map[string]bool{}
	var found []string
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if dir == pluginDir && !os.IsNotExist(err) {
				return nil, fmt.Errorf("discover drivers: %w", err)
			}
			continue // PATH often names directories that do not exist
		}
		for _, e := range entries {
			name := e.Name()
			if !strings.HasPrefix(name, binaryPrefix) || len(name) == len(binaryPrefix) || seen[name] {
				continue
			}
			path := filepath.Join(dir, name)
			if !isExecutable(path) {
				continue
			}
			seen[name] = true
			found = append(found, path)
		}
	}
	return found, nil
}

// isExecutable reports whether path is a regular file someone may execute.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// findBinary returns the driver binary cfg names: cfg.Path, else
// berth-driver-<Name> in cfg.PluginDir, else in SearchPath.
func findBinary(cfg Config) (string, error) {
	if cfg.Path != "" {
		if !isExecutable(cfg.Path) {
			return "", fmt.Errorf("%w: %s is not an executable file", ErrDriverNotFound, cfg.Path)
		}
		return filepath.Abs(cfg.Path)
	}
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, `/\`) || cfg.Name == "." || cfg.Name == ".." {
		return "", fmt.Errorf("open driver: %w: driver name %q (want a plain name such as \"docker\", or a Path)", runtime.ErrInvalidArgument, cfg.Name)
	}
	name := binaryPrefix + cfg.Name
	var looked []string
	if cfg.PluginDir != "" {
		path := filepath.Join(cfg.PluginDir, name)
		if isExecutable(path) {
			return filepath.Abs(path)
		}
		looked = append(looked, cfg.PluginDir)
	}
	for _, dir := range SearchPath() {
		if path := filepath.Join(dir, name); isExecutable(path) {
			return path, nil
		}
	}
	looked = append(looked, "the absolute directories of $PATH")
	return "", fmt.Errorf("%w: %s (looked in %s)", ErrDriverNotFound, name, strings.Join(looked, " and "))
}
