"""A minimal Django project for the integration tests: no database, signed-cookie sessions."""

SECRET_KEY = "tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost"]
ROOT_URLCONF = "djangoproject.urls"
INSTALLED_APPS = ["django.contrib.sessions", "eye_client.django"]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "eye_client.django.middleware.PageviewMiddleware",
]
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [__import__("pathlib").Path(__file__).resolve().parent / "templates"],
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
STATIC_URL = "/static/"
DATABASES = {}
USE_TZ = True
# The tests point these at their server.
EYE_URL = None
EYE_KEY = None
