package gift

import (
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

// Error kinds of the gift component (codes -30xxx).
var (
	ErrUnknownGift  = apierr.New(http.StatusBadRequest, -30001, "unknown gift")
	ErrBadNum       = apierr.New(http.StatusBadRequest, -30002, "num out of range")
	ErrBadKey       = apierr.New(http.StatusBadRequest, -30003, "idempotency_key must be 1-64 characters of A-Z a-z 0-9 _ - : .")
	ErrSelfGift     = apierr.New(http.StatusForbidden, -30004, "cannot gift yourself")
	ErrNoAnchor     = apierr.New(http.StatusConflict, -30005, "room has no anchor to receive gifts")
	ErrInsufficient = apierr.New(http.StatusConflict, -30006, "insufficient balance")
	ErrKeyReused    = apierr.New(http.StatusConflict, -30007, "idempotency key reused with a different request")
	ErrBadUID       = apierr.New(http.StatusBadRequest, -30008, "uid must be positive")
	ErrBadAmount    = apierr.New(http.StatusBadRequest, -30009, "amount out of range")
	ErrBadReason    = apierr.New(http.StatusBadRequest, -30010, "reason must be 1-200 characters of text")
	ErrBalanceLimit = apierr.New(http.StatusConflict, -30011, "the credit would take the wallet past its largest balance")
	ErrGiftsOff     = apierr.New(http.StatusForbidden, -30012, "gifts are switched off in this room")
)
