"""Wire protocol between alexanderd's processes: messages, frames, codec and channel.

This package imports nothing of ours; only `channel` imports an I/O library (anyio).
"""
