// Module ControlPlane.
