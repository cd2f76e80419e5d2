"""The ops console: server-rendered pages under ``/ui`` of the http_toggle function (console.py), its
sessions and CSRF rule (session.py), the page data (views.py), templates/ and static/."""
