import { ErrorNotice } from '../components/common.tsx';
import { Layout } from '../components/layout.tsx';
import type { PageContext } from '../context.ts';

/** A page that could not be shown, inside the layout, saying why and where to go. */
export function ErrorPage(props: { ctx: PageContext; title: string; code?: string; message: string }) {
  return (
    <Layout ctx={props.ctx} title={props.title} section={null}>
      <h1>{props.title}</h1>
      <ErrorNotice code={props.code} message={props.message} />
      <p>
        <a href="/">Back to the overview</a>
      </p>
    </Layout>
  );
}
