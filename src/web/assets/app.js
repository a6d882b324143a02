// The dashboard's one script of its own (htmx does the rest). Forms marked data-api are sent as JSON
// to the /v1 endpoint they name (sign in, set a password, sign out, switch entity), with the session's
// CSRF token; on success the browser goes to data-next, otherwise the error is shown in the form, a
// field's beside it. After htmx swaps in the answer to a change, focus and old notices are seen to.
/* global HTMLElement, HTMLTextAreaElement -- browser globals beyond eslint.config.js's list */
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
      case 'SIGN_IN_LINK_INVALID':
        return 'This link has been used or has expired, so it cannot set a password. Ask an owner of your entity for a new one.';
      default:
        return error.message || 'Something went wrong (' + response.status + ').';
    }
  }

  // A refusal of a field put in words, by the rules of problemInWords in
  // src/web/components/field-errors.tsx: the words come from the field (data-label, data-missing,
  // data-invalid, written by the page), a limit from the API's message (zod's "<=254").
  function characters(n) {
    return n + (Number(n) === 1 ? ' character' : ' characters');
  }
  function sentence(message, label) {
    var text = String(message || '').trim();
    if (label && /^(has|is|does|contains) /.test(text)) return label + ' ' + text;
    return text.charAt(0).toUpperCase() + text.slice(1);
  }
  function inWords(message, code, input) {
    var value = input.value || '';
    var label = input.getAttribute('data-label') || '';
    var missing = input.getAttribute('data-missing') || (label ? 'Fill in “' + label + '”' : 'Fill this in');
    if (value.trim() === '') return missing;
    var big = /^Too big: .*<=\s*(\d+) characters/.exec(message);
    if (big) return 'At most ' + characters(big[1]) + ' (this has ' + Array.from(value.trim()).length + ')';
    var small = /^Too small: .*>=\s*(\d+) characters/.exec(message);
    if (small) return Number(small[1]) <= 1 ? missing : 'At least ' + characters(small[1]);
    if (code === 'VALIDATION_ERROR' && input.hasAttribute('data-invalid')) return input.getAttribute('data-invalid');
    return sentence(message, label);
  }
  // Which of a field's problems to say first: a limit passed, then what is wrong, then too short.
  function rank(message) {
    return /^Too big/.test(message) ? 0 : /^Too small/.test(message) ? 2 : 1;
  }

  function fieldInput(form, name) {
    var input = form.elements.namedItem(name);
    return input instanceof HTMLInputElement || input instanceof HTMLTextAreaElement ? input : null;
  }
  function fieldSlot(form, name) {
    var slots = form.querySelectorAll('[data-error]');
    for (var i = 0; i < slots.length; i++) if (slots[i].getAttribute('data-error') === name) return slots[i];
    return null;
  }
  function describedBy(input, id, on) {
    var ids = (input.getAttribute('aria-describedby') || '').split(/\s+/).filter(function (x) {
      return x && x !== id;
    });
    if (on) ids.push(id);
    if (ids.length) input.setAttribute('aria-describedby', ids.join(' '));
    else input.removeAttribute('aria-describedby');
  }

  /** Empties the form's messages and unmarks its fields. */
  function clearProblems(form) {
    var slots = form.querySelectorAll('[data-error]');
    for (var i = 0; i < slots.length; i++) {
      var slot = slots[i];
      var name = slot.getAttribute('data-error');
      slot.textContent = '';
      if (name === 'form') continue;
      slot.hidden = true;
      var input = fieldInput(form, name);
      if (input) {
        input.removeAttribute('aria-invalid');
        describedBy(input, slot.id, false);
      }
    }
  }

  /**
   * Shows a refusal in the form: each problem of a field beside it (the field marked invalid and
   * described by it, what was typed kept), anything else in the form's own message box.
   */
  function showRefusal(form, error, response) {
    var details = Array.isArray(error.details) ? error.details : [];
    var chosen = {};
    var rest = [];
    details.forEach(function (d) {
      var name = String(d.field || '').replace(/^body\./, '');
      var message = String(d.message || '');
      if (!fieldInput(form, name) || !fieldSlot(form, name)) {
        rest.push((name ? name + ': ' : '') + sentence(message, ''));
        return;
      }
      if (!chosen[name] || rank(message) < rank(chosen[name])) chosen[name] = message;
    });
    var first = null;
    Object.keys(chosen).forEach(function (name) {
      var input = fieldInput(form, name);
      var slot = fieldSlot(form, name);
      slot.textContent =
        inWords(chosen[name], error.code, input) + (error.code === 'VALIDATION_ERROR' ? '' : ' (' + error.code + ')');
      slot.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      if (slot.id) describedBy(input, slot.id, true);
      if (!first) first = input;
    });
    if (first) {
      if (rest.length) show(form, rest.join('; '));
      first.focus();
      return;
    }
    show(form, error.code === 'VALIDATION_ERROR' && rest.length ? rest.join('; ') : describe(error, response));
  }

  function show(form, message) {
    var box = form.querySelector('[data-error="form"]');
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
    clearProblems(form);
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
              return json && json.error ? json.error : null;
            },
            function () {
              return null;
            },
          )
          .then(function (error) {
            done();
            if (error) showRefusal(form, error, response);
            else show(form, 'Something went wrong (' + response.status + ').');
          });
      })
      .catch(function () {
        done();
        show(form, 'The server could not be reached. Check your connection and try again.');
      });
  });

  // htmx: a change the person makes (a POST) replaces the notice of the one before. The page's flash
  // area, where a refusal not about a field is shown, is emptied when the next change is sent, so an
  // old refusal never stands above a new result. Polling (GET) leaves it.
  function isChange(detail) {
    return !!(detail && detail.requestConfig && detail.requestConfig.verb && detail.requestConfig.verb !== 'get');
  }
  function flashArea() {
    return document.getElementById('flash');
  }
  document.addEventListener('htmx:beforeRequest', function (event) {
    var flash = flashArea();
    if (isChange(event.detail) && flash) flash.replaceChildren();
  });
  document.addEventListener('htmx:sendError', function (event) {
    var flash = flashArea();
    if (!isChange(event.detail) || !flash) return;
    var notice = document.createElement('div');
    notice.className = 'notice notice-error';
    notice.setAttribute('role', 'alert');
    notice.setAttribute('tabindex', '-1');
    notice.textContent =
      'The server could not be reached, so nothing was changed. Check your connection and try again.';
    flash.replaceChildren(notice);
    notice.focus();
  });

  // After a change's answer is swapped in, keyboard focus goes somewhere sensible rather than to
  // <body> (where the button that was pressed was taken away with the old HTML): to the first field
  // marked invalid, else, when focus was lost, to the message that says what happened (made focusable).
  var focused = typeof WeakSet === 'function' ? new WeakSet() : null;
  document.addEventListener('htmx:afterSettle', function (event) {
    var detail = event.detail;
    if (!isChange(detail) || !(event.target instanceof HTMLElement)) return;
    if (focused) {
      if (focused.has(detail.xhr)) return;
      focused.add(detail.xhr);
    }
    var root = event.target;
    var invalid = root.matches('[aria-invalid="true"]') ? root : root.querySelector('[aria-invalid="true"]');
    if (invalid instanceof HTMLElement) {
      invalid.focus();
      return;
    }
    var active = document.activeElement;
    if (active && active !== document.body && active.isConnected) return;
    var message = root.querySelector('.notice, [role="status"], [role="alert"]') || root;
    if (!message.hasAttribute('tabindex') && !(message instanceof HTMLInputElement)) {
      message.setAttribute('tabindex', '-1');
    }
    message.focus();
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
