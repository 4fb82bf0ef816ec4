package broker

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDefaultConfig: the defaults map onto a valid one-member group.
func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	require.Len(t, c.Members, 1)
	require.Equal(t, c.NodeID, c.Members[0].ID)
	require.Equal(t, "127.0.0.1:40911", c.Members[0].Addr)
}
