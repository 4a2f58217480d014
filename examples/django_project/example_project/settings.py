"""Settings of the example project: a Django service storing documents, reporting exceptions.

Kafka is configured the guide's way: the development `config.json` next to `manage.py`
(named by DOCUMENT_EXCEPTIONS_CONFIG_FILE below), overridden in production by the
environment variables KAFKA_BOOTSTRAP_SERVERS (a JSON list), KAFKA_SECURITY_PROTOCOL,
KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD. Environment variables
win over the Django settings here, which win over config.json.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    # Validates the document-exceptions settings when Django starts.
    "document_exceptions.app",
    "attachments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "example_project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    }
]
# Django's auth views at /accounts/ (example_project/urls.py); after logging in, the order
# that `manage.py create_example_order` made.
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/orders/SB1029435/"
WSGI_APPLICATION = "example_project.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": Path(os.environ.get("EXAMPLE_DATABASE", BASE_DIR / "db.sqlite3")),
    }
}

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Documents: Django's default storage stands in for S3 here (local files under MEDIA_ROOT);
# in production use django-storages' S3 backend, keys stay the same.
MEDIA_ROOT = Path(os.environ.get("EXAMPLE_MEDIA_ROOT", BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
}

# document-exceptions: development config.json (the guide's), env vars override.
DOCUMENT_EXCEPTIONS_CONFIG_FILE = str(BASE_DIR / "config.json")
DOCUMENT_EXCEPTIONS_SPOOL_DIR = str(BASE_DIR / "var" / "document-exceptions-spool")
MESSAGE_DEFAULT_SOURCE = "django_s3_app"
# No document-orders API runs on a laptop: the example serves a stub of it itself
# (example_project/orders_api_stub.py) at this address, the one `manage.py runserver` uses.
# Running on another address, or against the real API, set DOCUMENT_ORDERS_API_URL.
EXAMPLE_ORDERS_API_STUB = os.environ.get("EXAMPLE_ORDERS_API_STUB", "1") == "1"
DOCUMENT_ORDERS_API_URL = "http://127.0.0.1:8000/api/document-orders/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "document_exceptions": {"handlers": ["console"], "level": "INFO"},
        "example": {"handlers": ["console"], "level": "INFO"},
    },
}
