// Where the Queue Status server is. The app must list this page's origin in
// CORS_ORIGINS (default http://localhost:4200) for HTTP and WebSocket calls.
export const environment = {
  /** Base URL of the server: GraphQL at `${serverUrl}/graphql`, REST at `${serverUrl}/api/queue-status`. */
  serverUrl: 'http://127.0.0.1:3000',
  /** API token when the server requires one (API_TOKENS); empty for an open server. */
  token: '',
};
