package wire

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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

// searchDirs returns where drivers are looked for: the plugin directories
// (made absolute; empty ones skipped), then SearchPath, each once; the
// first plugins of dirs are plugin directories.
func searchDirs(pluginDirs []string) (dirs []string, plugins int) {
	for _, dir := range pluginDirs {
		if dir == "" {
			continue
		}
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		if !slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
	}
	plugins = len(dirs)
	for _, dir := range SearchPath() {
		if !slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
	}
	return dirs, plugins
}

// Discover returns the paths of the driver binaries (executable files named
// berth-driver-<name>) in the plugin directories, in order, then in the
// directories of SearchPath. A name found twice is listed once, at its
// first place: the one Find (and Open) would run. A plugin directory that
// does not exist is skipped; one that cannot be read is an error.
func Discover(pluginDirs []string) ([]string, error) {
	dirs, plugins := searchDirs(pluginDirs)
	seen := map[string]bool{}
	var found []string
	for i, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if i < plugins && !errors.Is(err, fs.ErrNotExist) {
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

// Find returns the path of the binary of the driver called name
// (berth-driver-<name>): the first in the plugin directories, then in the
// directories of SearchPath. The error wraps runtime.ErrInvalidArgument if
// name is not a plain name, ErrDriverNotFound if no such binary exists.
func Find(name string, pluginDirs []string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return "", fmt.Errorf("find driver: %w: driver name %q (want a plain name such as \"docker\", or a path)", runtime.ErrInvalidArgument, name)
	}
	file := binaryPrefix + name
	dirs, _ := searchDirs(pluginDirs)
	for _, dir := range dirs {
		if path := filepath.Join(dir, file); isExecutable(path) {
			return path, nil
		}
	}
	looked := slices.DeleteFunc(slices.Clone(pluginDirs), func(d string) bool { return d == "" })
	looked = append(looked, "the absolute directories of $PATH")
	return "", fmt.Errorf("%w: %s (looked in %s)", ErrDriverNotFound, file, strings.Join(looked, ", "))
}

// DriverName returns the name of the driver whose binary is at path: its
// file name less the berth-driver- prefix ("" if it has none).
func DriverName(path string) string {
	name, ok := strings.CutPrefix(filepath.Base(path), binaryPrefix)
	if !ok {
		return ""
	}
	return name
}

// isExecutable reports whether path is a regular file someone may execute.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// findBinary returns the driver binary cfg names: cfg.Path, else Find's.
func findBinary(cfg Config) (string, error) {
	if cfg.Path != "" {
		if !isExecutable(cfg.Path) {
			return "", fmt.Errorf("%w: %s is not an executable file", ErrDriverNotFound, cfg.Path)
		}
		return filepath.Abs(cfg.Path)
	}
	path, err := Find(cfg.Name, cfg.PluginDirs)
	if err != nil {
		return "", fmt.Errorf("open driver: %w", err)
	}
	return path, nil
}
