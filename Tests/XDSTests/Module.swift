// Tests for XDS.
