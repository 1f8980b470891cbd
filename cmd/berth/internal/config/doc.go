// Package config reads berth's YAML configuration file and resolves the
// settings that environment variables and flags override.
//
// The file is strict: an unknown key, a value of the wrong type, a bad
// duration or size is an error that names the key's path (for example
// "snapshots.ttl") and says what is wrong. Every key is optional; File's
// zero value is the configuration berth uses when there is no file.
// example.yaml, next to this file, shows and explains every key.
package config
