import { runFunctionMain } from '../../shared/runtime/start-function';
import { definition } from './definition';

runFunctionMain(definition);
