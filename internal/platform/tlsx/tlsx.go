// Package tlsx serves TLS from a certificate and key file pair that may be renewed while the
// process runs (certbot, cert-manager): the files are read again when they change, checked at
// most once a second on a handshake, and a pair that fails to load is logged while the last
// good certificate stays in use.
package tlsx

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Certs is a reloading certificate.
type Certs struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string    // the files' sizes and modification times when cert was read
	checked time.Time // last look at the files
}

// Load reads the pair; it fails when it cannot (a process must not start without its cert).
func Load(certFile, keyFile string, log *slog.Logger) (*Certs, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("tls: both a certificate file and a key file are needed")
	}
	c := &Certs{certFile: certFile, keyFile: keyFile, log: log, now: time.Now}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Certs) files() (string, error) {
	var stamp string
	for _, f := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return "", fmt.Errorf("tls: %w", err)
		}
		stamp += fmt.Sprintf("%d:%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return stamp, nil
}

// reload reads the pair when the files changed; c.mu is held (or c is not shared yet).
func (c *Certs) reload() error {
	stamp, err := c.files()
	if err != nil {
		return err
	}
	if stamp == c.stamp {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls: load %s / %s: %w", c.certFile, c.keyFile, err)
	}
	if cert.Leaf == nil && len(cert.Certificate) > 0 {
		cert.Leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	c.cert, c.stamp = &cert, stamp
	if cert.Leaf != nil {
		c.log.Info("tls certificate loaded", "file", c.certFile, "subject", cert.Leaf.Subject.String(),
			"not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// GetCertificate is tls.Config.GetCertificate.
func (c *Certs) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); now.Sub(c.checked) >= time.Second {
		c.checked = now
		if err := c.reload(); err != nil {
			c.log.Error("tls certificate not reloaded; the previous one stays in use", "err", err)
		}
	}
	return c.cert, nil
}

// NotAfter is the current certificate's expiry (zero when unknown).
func (c *Certs) NotAfter() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert == nil || c.cert.Leaf == nil {
		return time.Time{}
	}
	return c.cert.Leaf.NotAfter
}

// ServerConfig is a TLS 1.2+ server config on these certificates, speaking protos (ALPN).
func (c *Certs) ServerConfig(protos ...string) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate, NextProtos: protos}
}

// ExpiryGauge is zhibo_tls_certificate_expiry_timestamp_seconds{listener}: when the
// certificate in use expires, for an alert ahead of it.
func ExpiryGauge(listener string, c *Certs) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "zhibo_tls_certificate_expiry_timestamp_seconds",
		Help:        "Unix time the TLS certificate in use expires.",
		ConstLabels: prometheus.Labels{"listener": listener},
	}, func() float64 { return float64(c.NotAfter().Unix()) })
}

// Pool reads the PEM certificates of a CA file.
func Pool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls: %s holds no PEM certificate", file)
	}
	return p, nil
}
