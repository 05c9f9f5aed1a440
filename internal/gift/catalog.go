package gift

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Coin types of a gift. Both are paid from the one wallet balance; gold is the paid currency
// Bilibili counts in revenue, silver the free one.
const (
	CoinGold   = "gold"
	CoinSilver = "silver"
)

// Gift is one entry of the catalog.
type Gift struct {
	ID       int64  `yaml:"id" json:"id"`
	Name     string `yaml:"name" json:"name"`
	Price    int64  `yaml:"price" json:"price"` // coins per unit
	CoinType string `yaml:"coin_type" json:"coin_type"`
}

// DefaultCatalog is the catalog used when the configuration names none.
func DefaultCatalog() []Gift {
	return []Gift{
		{ID: 1, Name: "Glow Stick", Price: 1, CoinType: CoinSilver},
		{ID: 2, Name: "Heart", Price: 5, CoinType: CoinSilver},
		{ID: 3, Name: "Applause", Price: 10, CoinType: CoinGold},
		{ID: 4, Name: "Bouquet", Price: 52, CoinType: CoinGold},
		{ID: 5, Name: "Rocket", Price: 520, CoinType: CoinGold},
		{ID: 6, Name: "Space Station", Price: 1000, CoinType: CoinGold},
	}
}

func validateCatalog(gs []Gift) error {
	if len(gs) == 0 {
		return errors.New("gift.catalog: at least one gift is required")
	}
	var errs []error
	seen := make(map[int64]bool, len(gs))
	for i, g := range gs {
		where := fmt.Sprintf("gift.catalog[%d]", i)
		if g.ID <= 0 {
			errs = append(errs, fmt.Errorf("%s: id %d must be positive", where, g.ID))
		} else if seen[g.ID] {
			errs = append(errs, fmt.Errorf("%s: id %d is used twice", where, g.ID))
		}
		seen[g.ID] = true
		if strings.TrimSpace(g.Name) == "" {
			errs = append(errs, fmt.Errorf("%s: name must not be empty", where))
		} else if !utf8.ValidString(g.Name) || utf8.RuneCountInString(g.Name) > maxNameLen {
			errs = append(errs, fmt.Errorf("%s: name must be valid UTF-8 of at most %d characters", where, maxNameLen))
		}
		if g.Price <= 0 || g.Price > maxPrice {
			errs = append(errs, fmt.Errorf("%s: price %d: want 1..%d", where, g.Price, maxPrice))
		}
		if g.CoinType != CoinGold && g.CoinType != CoinSilver {
			errs = append(errs, fmt.Errorf("%s: coin_type %q: want %q or %q", where, g.CoinType, CoinGold, CoinSilver))
		}
	}
	return errors.Join(errs...)
}

// catalog is the validated catalog indexed by id; it is read-only once built (Reload builds a
// new one).
type catalog struct {
	list []Gift
	byID map[int64]Gift
}

func newCatalog(gs []Gift) catalog {
	c := catalog{list: append([]Gift(nil), gs...), byID: make(map[int64]Gift, len(gs))}
	for _, g := range gs {
		c.byID[g.ID] = g
	}
	return c
}

// catalogFlag lets the catalog be given on the command line as a JSON list.
type catalogFlag struct{ gs *[]Gift }

func (f *catalogFlag) String() string {
	if f == nil || f.gs == nil {
		return "[]"
	}
	b, _ := json.Marshal(*f.gs)
	return string(b)
}

func (f *catalogFlag) Set(s string) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	var gs []Gift
	if err := dec.Decode(&gs); err != nil {
		return fmt.Errorf("want a JSON list of gifts: %w", err)
	}
	*f.gs = gs
	return nil
}
