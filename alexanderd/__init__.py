"""alexanderd: the supervisor, the S3 front and the admin CLI of the object storage daemon."""
