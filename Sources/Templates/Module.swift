// Module Templates.
