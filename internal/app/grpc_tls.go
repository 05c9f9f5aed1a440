package app

import (
	"crypto/tls"
	"fmt"

	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
	"github.com/zhibo-live/zhibo/internal/platform/tlsx"
)

// grpcServerOpts are the options of this process's gRPC server: its metrics, and TLS
// (grpc_tls_cert_file, with client certificates required when grpc_tls_client_ca_file is set).
func (a *App) grpcServerOpts() ([]grpcx.Option, error) {
	opts := []grpcx.Option{grpcx.WithMetrics(a.rpcm)}
	if a.cfg.GRPCTLSCertFile == "" {
		return opts, nil
	}
	certs, err := tlsx.Load(a.cfg.GRPCTLSCertFile, a.cfg.GRPCTLSKeyFile, a.logger("grpc"))
	if err != nil {
		return nil, fmt.Errorf("grpc_tls_cert_file: %w", err)
	}
	if err := a.Reg.Register(tlsx.ExpiryGauge("grpc", certs)); err != nil {
		return nil, err
	}
	c := certs.ServerConfig("h2")
	if a.cfg.GRPCTLSClientCAFile != "" {
		if c.ClientCAs, err = tlsx.Pool(a.cfg.GRPCTLSClientCAFile); err != nil {
			return nil, fmt.Errorf("grpc_tls_client_ca_file: %w", err)
		}
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return append(opts, grpcx.WithTLS(c)), nil
}

// peerOpts are the options of every connection to a peer: metrics, and TLS when
// peers.tls_ca_file is set (with this process's client certificate, peers.tls_cert_file).
// Built once; the client certificate is re-read when its files change.
func (a *App) peerOpts() ([]grpcx.Option, error) {
	if a.peerOptions != nil {
		return a.peerOptions, nil
	}
	opts := []grpcx.Option{grpcx.WithMetrics(a.rpcm)}
	p := a.cfg.Peers
	if p.TLSCAFile != "" {
		pool, err := tlsx.Pool(p.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("peers.tls_ca_file: %w", err)
		}
		c := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
		if p.TLSCertFile != "" {
			certs, err := tlsx.Load(p.TLSCertFile, p.TLSKeyFile, a.logger("grpc"))
			if err != nil {
				return nil, fmt.Errorf("peers.tls_cert_file: %w", err)
			}
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return certs.GetCertificate(nil)
			}
		}
		opts = append(opts, grpcx.WithTLS(c))
	}
	a.peerOptions = opts
	return opts, nil
}
