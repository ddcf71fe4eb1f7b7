// Tests for SystemIO.
