package acl

import (
	"fmt"
	"strings"
)

// Perm is a permission set (RocketMQ's values).
type Perm uint8

const (
	Deny Perm = 1
	Any  Perm = 2
	Pub  Perm = 4
	Sub  Perm = 8
)

func (p Perm) String() string {
	switch p {
	case Deny:
		return "DENY"
	case Any:
		return "ANY"
	case Pub:
		return "PUB"
	case Sub:
		return "SUB"
	case Pub | Sub:
		return "PUB|SUB"
	}
	return fmt.Sprintf("Perm(%d)", uint8(p))
}

// ParsePerm parses DENY, PUB, SUB, PUB|SUB (or SUB|PUB). strict refuses
// anything else; otherwise it means DENY, as RocketMQ reads its file.
func ParsePerm(s string, strict bool) (Perm, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "PUB":
		return Pub, nil
	case "SUB":
		return Sub, nil
	case "PUB|SUB", "SUB|PUB":
		return Pub | Sub, nil
	case "DENY":
		return Deny, nil
	case "":
		if !strict {
			return Deny, nil
		}
	}
	if strict {
		return Deny, fmt.Errorf("acl: unknown permission %q (want DENY, PUB, SUB or PUB|SUB)", s)
	}
	return Deny, nil
}

// allows reports whether owned grants needed (RocketMQ's checkPermission).
func allows(needed, owned Perm) bool {
	if owned&Deny != 0 {
		return false
	}
	if needed&Any != 0 {
		return owned&(Pub|Sub) != 0
	}
	return needed&owned != 0
}
