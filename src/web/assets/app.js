// The dashboard's one script of its own (htmx does the rest). Forms marked data-api are sent as JSON
// to the /v1 endpoint they name (sign in, set a password, sign out, switch entity), with the session's
// CSRF token; on success the browser goes to data-next, otherwise the error is shown in the form.
(function () {
  'use strict';

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') : null;
  }

  function waitText(seconds) {
    if (!(seconds > 0)) return 'a while';
    if (seconds < 90) return seconds + ' seconds';
    return Math.ceil(seconds / 60) + ' minutes';
  }

  function describe(error, response) {
    switch (error.code) {
      case 'INVALID_CREDENTIALS':
        return 'The email or password is not right. Check them and try again.';
      case 'LOGIN_THROTTLED': {
        var retry = Number(response.headers.get('retry-after')) || (error.details && error.details.retryAfterSeconds);
        return (
          'Too many failed attempts. For your security, signing in is paused: try again in ' + waitText(retry) + '.'
        );
      }
      case 'VALIDATION_ERROR':
      case 'PASSWORD_TOO_WEAK':
        if (Array.isArray(error.details) && error.details.length > 0) {
          return error.details
            .map(function (d) {
              return String(d.field || '').replace(/^body\./, '') + ': ' + d.message;
            })
            .join('; ');
        }
        return error.message;
      default:
        return error.message || 'Something went wrong (' + response.status + ').';
    }
  }

  function show(form, message) {
    var box = form.querySelector('[data-error]');
    if (box) {
      box.textContent = message;
      box.hidden = false;
    } else {
      window.alert(message);
    }
  }

  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-api')) return;
    event.preventDefault();
    var box = form.querySelector('[data-error]');
    if (box) box.textContent = '';
    var body = {};
    new FormData(form).forEach(function (value, key) {
      if (key !== '_csrf' && typeof value === 'string') body[key] = value;
    });
    var headers = { 'content-type': 'application/json', accept: 'application/json' };
    var token = csrfToken();
    if (token) headers['x-csrf-token'] = token;
    var button = form.querySelector('button[type="submit"]');
    if (button) {
      button.disabled = true;
      button.setAttribute('aria-busy', 'true');
    }
    var done = function () {
      if (button) {
        button.disabled = false;
        button.removeAttribute('aria-busy');
      }
    };
    fetch(form.getAttribute('data-api'), {
      method: 'POST',
      headers: headers,
      body: JSON.stringify(body),
      credentials: 'same-origin',
    })
      .then(function (response) {
        if (response.ok) {
          window.location.assign(form.getAttribute('data-next') || '/');
          return;
        }
        return response
          .json()
          .then(
            function (json) {
              return json && json.error
                ? describe(json.error, response)
                : 'Something went wrong (' + response.status + ').';
            },
            function () {
              return 'Something went wrong (' + response.status + ').';
            },
          )
          .then(function (message) {
            done();
            show(form, message);
          });
      })
      .catch(function () {
        done();
        show(form, 'The server could not be reached. Check your connection and try again.');
      });
  });

  // "Copy" beside a secret shown once: copies the value of the field it names (data-copy).
  document.addEventListener('click', function (event) {
    var button = event.target instanceof Element ? event.target.closest('button[data-copy]') : null;
    if (!button) return;
    var field = document.querySelector(button.getAttribute('data-copy'));
    if (!(field instanceof HTMLInputElement)) return;
    field.select();
    var copied = function () {
      button.textContent = 'Copied';
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(copied, function () {
        button.textContent = 'Press Ctrl+C to copy';
      });
    } else {
      button.textContent = 'Selected: press Ctrl+C to copy';
    }
  });
})();
