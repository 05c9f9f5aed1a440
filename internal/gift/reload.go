package gift

// liveSettings are the settings a running service takes from Reload, swapped as one so a send
// never sees the catalog of one config with the limits of another.
type liveSettings struct {
	catalog  catalog
	maxNum   int64
	maxTopup int64
}

func newLiveSettings(cfg Config) *liveSettings {
	return &liveSettings{catalog: newCatalog(cfg.Catalog), maxNum: cfg.MaxNum, maxTopup: cfg.MaxTopup}
}

// Reload applies the settings of cfg that LiveKeys names to the running service: the catalog
// (a gift removed from it can no longer be sent; orders already made stay), the largest num of
// one send and the largest credit, from the next request on. The other settings stay those it
// was built with.
func (s *Service) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	s.live.Store(newLiveSettings(cfg))
	return nil
}
