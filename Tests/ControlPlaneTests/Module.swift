// Tests for ControlPlane.
