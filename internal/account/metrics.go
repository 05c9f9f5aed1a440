package account

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	registered      prometheus.Counter
	logins          *prometheus.CounterVec
	refused         *prometheus.CounterVec
	lockouts        *prometheus.CounterVec
	bcryptInFlight  prometheus.Gauge
	revoked         *prometheus.CounterVec
	revocationErrs  prometheus.Counter
	broadcasts      *prometheus.CounterVec
	revocationsSeen prometheus.Counter
	follows         *prometheus.CounterVec
	followEvents    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		registered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_account_registered_total", Help: "Users registered.",
		}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_account_logins_total", Help: "Login attempts that reached a password check, by result.",
		}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_account_auth_refused_total",
			Help: "Register, login and password-change attempts refused before password work, by reason " +
				"(ip_rate, account_rate, register_ip, backoff, backoff_ip, concurrent, busy).",
		}, []string{"reason"}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_account_lockouts_total", Help: "Lockouts started by failed logins, by scope (account, ip).",
		}, []string{"scope"}),
		bcryptInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zhibo_account_bcrypt_in_flight", Help: "Password hashes and checks running now (at most bcrypt_concurrency).",
		}),
		revoked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_account_sessions_revoked_total", Help: "Session revocations, by how (logout, logout_all, password).",
		}, []string{"how"}),
		revocationErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_account_revocation_check_errors_total",
			Help: "Token checks that could not read revocations from the store and accepted the signed token.",
		}),
		broadcasts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_account_revocation_broadcasts_total",
			Help: "Revocations written to the broadcast bucket for the other account processes, by result (ok, error).",
		}, []string{"result"}),
		revocationsSeen: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_account_revocations_received_total",
			Help: "Revocations this process took from the broadcast (its own included): cached sessions dropped.",
		}),
		follows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_account_follows_total", Help: "Follow edges added (follow) and removed (unfollow); repeats that change nothing are not counted.",
		}, []string{"change"}),
		followEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_account_follow_events_total", Help: "New follows published on the FOLLOWS stream for their notices, by result (ok, error).",
		}, []string{"result"}),
	}
	for _, c := range []string{"follow", "unfollow"} {
		m.follows.WithLabelValues(c)
	}
	for _, r := range []string{"ok", "error"} {
		m.followEvents.WithLabelValues(r)
		m.broadcasts.WithLabelValues(r)
	}
	for _, r := range []string{"ip_rate", "account_rate", "register_ip", "backoff", "backoff_ip", "concurrent", "busy"} {
		m.refused.WithLabelValues(r)
	}
	for _, s := range []string{"account", "ip"} {
		m.lockouts.WithLabelValues(s)
	}
	reg.MustRegister(m.registered, m.logins, m.refused, m.lockouts, m.bcryptInFlight, m.revoked, m.revocationErrs, m.broadcasts, m.revocationsSeen, m.follows, m.followEvents)
	return m
}
