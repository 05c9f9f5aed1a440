package logic

// Reload applies the settings of cfg that LiveKeys names to the running service, from the next
// connection on: connections per token (connections already open keep their slots) and the
// pace of entry announcements. The other settings stay those it was built with.
func (s *Service) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.MaxConnsPerToken = cfg.MaxConnsPerToken
	s.cfg.EntryInterval = cfg.EntryInterval
	s.cfg.EntryRoomRate = cfg.EntryRoomRate
	return nil
}
