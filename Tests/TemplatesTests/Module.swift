// Tests for Templates.
