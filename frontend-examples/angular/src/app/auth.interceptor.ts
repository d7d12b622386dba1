import type { HttpInterceptorFn } from '@angular/common/http';

import { environment } from '../environments/environment';

/** The API token as a bearer header on every call to the Queue Status server (GraphQL and REST). */
export const authInterceptor: HttpInterceptorFn = (request, next) => {
  if (!environment.token || !request.url.startsWith(environment.serverUrl)) return next(request);
  return next(request.clone({ setHeaders: { Authorization: `Bearer ${environment.token}` } }));
};
