package consumequeue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrInvalidName reports a topic or queue id that cannot name a queue
// directory. Callers validate names first; this is the last line, where a
// name becomes a path.
var ErrInvalidName = errors.New("consumequeue: invalid queue name")

// maxNameLen bounds a topic directory name (RocketMQ topics are at most
// 127 bytes; %RETRY% and %DLQ% topics of 255-byte groups are longer).
const maxNameLen = 255

// TopicDir returns root/topic after checking that topic is a single,
// harmless path element: RocketMQ's name characters only
// (^[%|a-zA-Z0-9_-]+$), so no separator, no "." or "..", no NUL, and the
// joined path stays directly under root.
func TopicDir(root, topic string) (string, error) {
	if topic == "" || len(topic) > maxNameLen {
		return "", fmt.Errorf("%w: topic of %d bytes", ErrInvalidName, len(topic))
	}
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '%' || c == '|' || c == '_' || c == '-') {
			return "", fmt.Errorf("%w: topic %q has %q at byte %d", ErrInvalidName, topic, c, i)
		}
	}
	root = filepath.Clean(root)
	dir := filepath.Join(root, topic)
	if filepath.Dir(dir) != root || !strings.HasPrefix(dir, root+string(filepath.Separator)) {
		return "", fmt.Errorf("%w: topic %q leaves %s", ErrInvalidName, topic, root)
	}
	return dir, nil
}

// QueueDir returns root/topic/queueID, validated as TopicDir does.
func QueueDir(root, topic string, queueID int32) (string, error) {
	dir, err := TopicDir(root, topic)
	if err != nil {
		return "", err
	}
	if queueID < 0 {
		return "", fmt.Errorf("%w: queue id %d", ErrInvalidName, queueID)
	}
	return filepath.Join(dir, strconv.Itoa(int(queueID))), nil
}

// RemoveTopic deletes every queue file of topic under root.
func RemoveTopic(root, topic string) error {
	dir, err := TopicDir(root, topic)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("consumequeue: %w", err)
	}
	return nil
}
