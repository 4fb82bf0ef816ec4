// Package filter compiles and evaluates RocketMQ SQL92 message selectors
// (MessageSelector.bySql), the broker-side property filter.
//
// The language is RocketMQ's (a JMS selector subset):
//
//	a > 5 AND b = 'x'             numeric and string comparison (=, <>, >, >=, <, <=)
//	a BETWEEN 1 AND 3             and NOT BETWEEN
//	TAGS IN ('A', 'B')            and NOT IN, on properties only
//	a IS NULL, a IS NOT NULL
//	s CONTAINS 'x'                and STARTSWITH, ENDSWITH, each with NOT
//	NOT, AND, OR, parentheses, TRUE, FALSE, NULL, -- and /* */ comments
//
// Keywords are case-insensitive; property names are case-sensitive and are
// looked up among the message's properties (TAGS and KEYS included). Every
// property value is a string: compared with a number it is converted to a
// number, and two strings under <, <=, >, >= are compared as numbers.
//
// Evaluation is three-valued as in SQL: a comparison with a missing
// property is unknown, and only a TRUE result matches. A value that cannot
// be converted (a = 5 with a = 'x') is an evaluation error and, as in
// RocketMQ, the message does not match. One deliberate difference: an
// integer literal compared with a decimal string ("10.5" > 10) compares as
// decimals, where RocketMQ raises a conversion error and drops the message.
//
// Compile checks at compile time what RocketMQ's parser checks: a boolean
// result, numeric operands for ordering, no comparison with NULL, a
// property on the left of IN, and BETWEEN bounds in order. Expressions are
// bounded (MaxLen bytes, MaxDepth nesting), so a hostile subscription
// cannot exhaust the broker's stack.
package filter
