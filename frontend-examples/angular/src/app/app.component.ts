import { ChangeDetectionStrategy, Component } from '@angular/core';

import { DashboardComponent } from './dashboard/dashboard.component';

@Component({
  selector: 'qs-root',
  imports: [DashboardComponent],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: '<qs-dashboard />',
})
export class AppComponent {}
