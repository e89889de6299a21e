"""Protocol plugins: one module per botnet wire format, pure bytes in and records out."""
