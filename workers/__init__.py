"""Child processes of alexanderd that touch data: blob I/O workers and the meta process."""
