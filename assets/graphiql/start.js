// Starts GraphiQL on /graphiql. Kept out of the page so that the page's
// Content-Security-Policy can forbid inline scripts.
//
// Requests go to /graphql on this origin. The bearer token is typed into
// GraphiQL's own Headers editor and kept in this tab only: it is not
// written to the browser's storage, where any script on this origin could
// read it. After pasting one, "Re-fetch GraphQL schema" loads the schema.
(function () {
  'use strict';

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: GraphiQL.createFetcher({ url: '/graphql' }),
      shouldPersistHeaders: false,
      defaultHeaders: JSON.stringify(
        { Authorization: 'Bearer <paste a token>' },
        null,
        2
      ),
      defaultEditorToolsVisibility: 'headers',
    })
  );
})();
