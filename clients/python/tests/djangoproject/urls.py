from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path

from eye_client.django import track


def home(request):
    return HttpResponse("<html><body>home</body></html>")


def api(request):
    return JsonResponse({"ok": True})


def static_file(request):
    return HttpResponse("<html></html>")


def signup(request):
    return render(request, "signup.html", {})


def submit(request):
    track(request, "form interaction", "submit", {"form": {"first_name": "John"}})
    return JsonResponse({"tracked": True})


def login(request):
    """Logs in as Django does: a new session key (``cycle_key``), the user in the session."""
    request.session.cycle_key()
    request.session["user"] = "john"
    return HttpResponse("<html>logged in</html>")


def reset(request, token):
    """Like Django's password reset: a URL carrying a secret that redirects at once."""
    return redirect("/")


urlpatterns = [
    path("", home),
    path("api", api),
    path("static/app.css", static_file),
    path("signup", signup),
    path("submit", submit),
    path("login", login),
    path("reset/<token>/", reset),
]
