import type { FastifyReply } from 'fastify';
import type { VNode } from 'preact';
import { render } from 'preact-render-to-string';

/** Sends a whole page: the doctype, then the rendered document. Pages are never cached. */
export function sendPage<P>(reply: FastifyReply, page: VNode<P>, status = 200): FastifyReply {
  return reply
    .status(status)
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(`<!doctype html>\n${html(page)}`);
}

/** Sends a piece of a page that htmx swaps in. */
export function sendFragment<P>(reply: FastifyReply, fragment: VNode<P>, status = 200): FastifyReply {
  return reply.status(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(html(fragment));
}

/** A component's HTML; each page's props were type-checked where its element was made. */
function html<P>(node: VNode<P>): string {
  return render(node as unknown as VNode);
}
