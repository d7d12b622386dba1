// GraphQL Code Generator: typed documents for the operations in src/app/graphql/,
// checked against the server's schema (exported from the Python code by `make schema`).
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: '../../schema.graphql',
  documents: ['src/app/graphql/**/*.graphql'],
  ignoreNoDocuments: false,
  generates: {
    'src/app/generated/': {
      preset: 'client',
      // Plain fragment types: the components read fields directly.
      presetConfig: { fragmentMasking: false },
      config: {
        enumsAsTypes: true,
        useTypeImports: true,
        skipTypename: true,
        avoidOptionals: { field: true, inputValue: false },
        scalars: {
          Timestamp: { input: 'number', output: 'number' },
          Version: { input: 'number', output: 'number' },
          JSON: { input: 'unknown', output: 'unknown' },
        },
      },
    },
  },
};

export default config;
