package account

import "github.com/zhibo-live/zhibo/internal/platform/textnorm"

// Reload applies the settings of cfg that LiveKeys names to the running service: the rates and
// bursts of logins, registrations and attempts per account name, from the next attempt on.
// The other settings stay those it was built with.
func (s *Service) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	s.guard.setRates(cfg.Limits)
	return nil
}

// SetWords replaces the banned words refused in new names.
func (s *Service) SetWords(w textnorm.Words) { s.words.Store(&w) }
