package danmaku

import "github.com/zhibo-live/zhibo/internal/platform/textnorm"

// Reload applies the settings of cfg that LiveKeys names to the running service: the per-user
// rate and burst, from the next comment on. The other settings stay those it was built with.
func (s *Service) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	s.limiter.SetLimit(cfg.Rate, cfg.Burst, s.now())
	return nil
}

// SetWords replaces the banned words, from the next comment on.
func (s *Service) SetWords(w textnorm.Words) { s.words.Store(&w) }
