"""The ASGI app (Starlette): archive serving and subscriber flows share one app."""
