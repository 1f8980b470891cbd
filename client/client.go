package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls a berth daemon. It is safe for concurrent use.
type Client struct {
	base  *url.URL // scheme and host; paths are added
	hc    *http.Client
	token string
}

// Option configures a Client.
type Option func(*options)

type options struct {
	token string
	tls   *tls.Config
	wrap  []func(http.RoundTripper) http.RoundTripper
}

// WithToken sends token as the bearer token of every request (a daemon on
// TCP requires one).
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithTLSConfig speaks TLS with cfg: tcp:// hosts become https.
func WithTLSConfig(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// WithTransport wraps the client's transport (to log, trace or check
// requests); wrappers given later wrap the earlier ones.
func WithTransport(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(o *options) { o.wrap = append(o.wrap, wrap) }
}

// New returns a client of the daemon at host: unix:///path/to/berth.sock
// or a bare path for a unix socket, tcp://host:port, or an http:// or
// https:// URL.
func New(host string, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     o.tls,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   o.tls != nil,
	}
	var base *url.URL
	switch {
	case strings.HasPrefix(host, "unix://") || (host != "" && !strings.Contains(host, "://")):
		path := strings.TrimPrefix(host, "unix://")
		if path == "" {
			return nil, fmt.Errorf("client: host %q: no socket path", host)
		}
		var d net.Dialer
		tr.Proxy = nil
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		}
		base = &url.URL{Scheme: "http", Host: "berth"}
		if o.tls != nil {
			base.Scheme = "https"
		}
	case strings.HasPrefix(host, "tcp://"):
		u, err := url.Parse(host)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("client: host %q: want tcp://host:port", host)
		}
		base = &url.URL{Scheme: "http", Host: u.Host}
		if o.tls != nil {
			base.Scheme = "https"
		}
	case strings.HasPrefix(host, "http://") || strings.HasPrefix(host, "https://"):
		u, err := url.Parse(host)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("client: host %q: not a URL", host)
		}
		base = &url.URL{Scheme: u.Scheme, Host: u.Host}
	default:
		return nil, fmt.Errorf("client: host %q: want unix:///path, tcp://host:port or an http(s) URL", host)
	}
	var rt http.RoundTripper = tr
	for _, w := range o.wrap {
		rt = w(rt)
	}
	return &Client{base: base, hc: &http.Client{Transport: rt}, token: o.token}, nil
}

// Close closes the client's idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// request is one call: its method, path (already escaped), query and body.
type request struct {
	method string
	path   string
	query  url.Values
	header http.Header
	body   any // marshalled to JSON when not nil
}

// do sends req and returns the answer if its status is 2xx; any other
// answer is returned as an *Error. The caller closes the body.
func (c *Client) do(ctx context.Context, req request) (*http.Response, error) {
	u := c.base.String() + req.path
	if len(req.query) > 0 {
		u += "?" + req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		b, err := json.Marshal(req.body)
		if err != nil {
			return nil, fmt.Errorf("client: %s %s: %w", req.method, req.path, err)
		}
		body = bytes.NewReader(b)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	for k, vs := range req.header {
		hr.Header[k] = vs
	}
	if req.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, readProblem(req.method, req.path, resp)
	}
	return resp, nil
}

// call sends req and decodes its JSON answer into out (if not nil).
func (c *Client) call(ctx context.Context, req request, out any) error {
	resp, err := c.do(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("client: %s %s: decode answer: %w", req.method, req.path, err)
	}
	return nil
}

// Health checks that the daemon is alive.
func (c *Client) Health(ctx context.Context) error {
	return c.call(ctx, request{method: "GET", path: "/healthz"}, nil)
}

// Ready checks that the daemon accepts jobs; when it does not, the error
// says why (it wraps core.ErrDraining while the daemon stops).
func (c *Client) Ready(ctx context.Context) error {
	return c.call(ctx, request{method: "GET", path: "/readyz"}, nil)
}
