import { inject } from '@angular/core';
import { ApolloLink, InMemoryCache } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { provideApollo } from 'apollo-angular';
import { HttpLink } from 'apollo-angular/http';
import { createClient } from 'graphql-ws';

import { environment } from '../environments/environment';

const httpUrl = `${environment.serverUrl}/graphql`;
const wsUrl = httpUrl.replace(/^http/, 'ws'); // http→ws, https→wss

/**
 * Apollo over a split link: queries and mutations over HTTP (apollo-angular's
 * HttpLink, so HttpClient interceptors add the token), subscriptions over
 * graphql-ws (the graphql-transport-ws protocol), which sends the token in
 * connection_init and reconnects and resubscribes by itself.
 */
export function provideGraphQL() {
  return provideApollo(() => {
    const http = inject(HttpLink).create({ uri: httpUrl });
    const ws = new GraphQLWsLink(
      createClient({
        url: wsUrl,
        connectionParams: () => (environment.token ? { authorization: `Bearer ${environment.token}` } : {}),
        lazy: true,
        retryAttempts: Infinity,
        shouldRetry: () => true, // a restarted server is worth waiting for
      }),
    );
    const link = ApolloLink.split(
      ({ query }) => {
        const definition = getMainDefinition(query);
        return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
      },
      ws,
      http,
    );
    return {
      link,
      cache: new InMemoryCache({
        typePolicies: {
          Operator: { keyFields: ['memberId'] },
          Queue: { keyFields: ['name'] },
        },
      }),
    };
  });
}
